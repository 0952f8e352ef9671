"""Getting a rendered message to people: the ordered, resumable send queue and the channels it drives."""
