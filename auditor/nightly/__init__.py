"""`audit nightly DIR`: an incremental audit of a whole results directory, with reports people read."""
