"""The drivers: each carries the one sans-IO core (:mod:`tcpchat.core`) over a transport.

:mod:`~tcpchat.backends.driver` holds the policy every driver shares (accepting, the linger on
close, the pause when descriptors run out, the shutdown sequence);
:mod:`~tcpchat.backends.selectloop` is the select backend.  ``docs/architecture.rst`` says what
a new driver must implement and which tests it must pass.
"""
