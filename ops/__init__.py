"""Operations tooling: the one way this project drives Pulumi from Python (`ops.automation`),
the shared PostgreSQL state backend (`ops.state_backend`) and drift detection (`ops.drift`)."""
