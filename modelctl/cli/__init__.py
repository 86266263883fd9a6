"""Thin commands: parse options, call the library, print. No logic lives here."""
