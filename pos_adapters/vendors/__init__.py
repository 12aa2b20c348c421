"""One module per POS vendor, each defining `Client` (a `pos_adapters.vendor.VendorClient`)."""
