"""Pure call logic: events in, actions out; no I/O, no threads, no hardware."""
