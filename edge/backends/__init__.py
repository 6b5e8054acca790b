"""Hardware backends behind the ports: ``sim`` (simulator) and ``pi`` (the board)."""
