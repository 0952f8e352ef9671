"""The message a person reads: rendering facts and analysis into sections, and the words of each language."""
