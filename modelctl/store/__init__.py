"""The models volume: layout, receipts of installed files, partial downloads, locks."""
