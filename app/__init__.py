"""API process of the vid2vid service. Never imports torch, cv2, `models` or `workers`."""
