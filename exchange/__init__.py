"""Application shell of the public resource trading exchange (公共资源交易平台)."""
