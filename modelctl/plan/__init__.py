"""What is missing, how many bytes, and where it goes."""
