"""One module per pipeline stage: a pure function of its params keys and paths, plus a thin main()."""
