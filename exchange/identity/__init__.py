"""Users, roles, passwords, tokens and the guards every endpoint uses."""
