"""The long-running parts: the worker, the processing seam and `mailbridge serve`."""
