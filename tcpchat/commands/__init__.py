"""What users ask for: IRC commands (:mod:`.irc`), plain mode (:mod:`.plain`), channel
moderation, the server's information and operator commands (:mod:`.serverinfo`), operators'
passwords.  Each works on the chat below it; the core above dispatches to them.  Sans-IO."""
