"""An ordinary Locust file for the demo shop (sample_suite/app.py), used by load_examples.py."""

from locust import FastHttpUser, constant, task


class Shopper(FastHttpUser):
    wait_time = constant(0)

    @task(3)
    def browse(self) -> None:
        self.client.get("/api/products?per_page=20", name="/api/products")

    @task(1)
    def health(self) -> None:
        self.client.get("/health")
