"""Forward-auth for gateways: which model and capability an original request asks for. Layer: services."""
