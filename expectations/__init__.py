"""Data-quality suites (Great Expectations) over staged observations, documents and the warehouse."""
