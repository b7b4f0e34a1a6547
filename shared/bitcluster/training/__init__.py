"""Training loops (torch). Each method's trainer lives in its own module."""
