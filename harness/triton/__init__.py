"""Everything that talks to or runs Triton: binary, server lifecycle, control client, repository, variants, request bytes."""
