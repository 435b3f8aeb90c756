"""The patient's pages: a personal link, its home, one screen per item, saves and forms."""
