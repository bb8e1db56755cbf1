"""The desk's pages, one router per area; ``desk.app`` includes them."""
