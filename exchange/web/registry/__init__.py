"""The rights registry's pages: the holder's green account, the registrar's console, public statistics."""
