"""The Excel history import's pure parts (no ORM, no queries): the order fields a column can map to (fields),
reading xlsx / xls / csv (read), the upload guards (guards), cleaning up cell values (normalize) and turning the
rows into orders and problems (plan). orders.services.imports runs them and does the database work."""
