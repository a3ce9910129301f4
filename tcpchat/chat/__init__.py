"""The chat's state and how output reaches users: who is here and where (:mod:`.state`), the
operations users perform and their delivery (:mod:`.chat`), a connection's stream and bounds
(:mod:`.connection`), flood control, the per-recipient wire form (:mod:`.encoding`), and the
configuration with the limits (:mod:`.config`).  Sans-IO."""
