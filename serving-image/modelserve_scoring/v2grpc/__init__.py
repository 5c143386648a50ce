"""The Open Inference Protocol v2 over gRPC: its messages, codec and service (grpc.aio)."""
