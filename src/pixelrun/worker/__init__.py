"""Workers: claim runs, fetch inputs, run the engine, store outputs, finish runs."""
