"""Pure rules both programs compute with (the station's pages and the county console's figures)."""
