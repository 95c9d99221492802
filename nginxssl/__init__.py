"""sslint: find every reason a browser would call an nginx or Apache site untrusted."""

__version__ = "0.1.0"
