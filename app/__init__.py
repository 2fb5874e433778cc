"""API process of the video synthesis service. Never imports torch, cv2, `models` or `workers`."""
