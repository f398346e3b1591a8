class Client:
    """Another library's Client: its client_id must stay."""

    def __init__(self, client_id):
        self.client_id = client_id
