"""The 居民档案 tab in parts with one job each: ``search_bar`` (search and filters), ``results``
(the lazy list), ``detail_panel`` (the selected resident and household), ``actions_bar`` (buttons,
status line, progress) and ``registry_tab`` (loads, selects and runs the actions)."""
