"""Self-service registration: the durable draft, its steps and the activation payment."""
