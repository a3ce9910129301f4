"""What people read: how a message reads as a line for a person (plain mode, the reference
client).  Above :mod:`tcpchat.protocol`, below the chat, which renders with it."""
