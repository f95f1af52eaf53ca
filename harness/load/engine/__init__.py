"""The lean load engines (compiled C++ and Python grpc.aio) and the link that steers them."""
