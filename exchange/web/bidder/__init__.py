"""A bidder's own pages: registration and "my exchange" (/me)."""
