"""The drivers that carry the sans-IO core over real sockets, behind one seam
(:mod:`.driver`): the select loop, the threads backend, UDP datagrams, the web gateway with its
page, and the in-memory TLS stream they share.  The only layer with sockets, selectors,
threads and ssl."""
