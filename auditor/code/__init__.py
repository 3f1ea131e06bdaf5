"""The static half: parse Python once, resolve names cheaply, run every code rule over the same tree."""
