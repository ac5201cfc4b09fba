"""The study: accuracy, robustness, speed and memory of every variant on every target, and its report."""
