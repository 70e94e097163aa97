"""Auction mechanisms (pure), bid intake, round timing and the live feed."""
