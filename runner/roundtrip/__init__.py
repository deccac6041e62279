"""``runner test``: every revision upgraded, downgraded, compared and upgraded again."""
