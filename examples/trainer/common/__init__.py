"""What the text and image trainers share."""
