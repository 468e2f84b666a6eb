"""An ordinary Locust file, used by test_load.py through the staging_load fixture."""

from locust import FastHttpUser, constant, task


class Shopper(FastHttpUser):
    wait_time = constant(0)

    @task(3)
    def browse(self) -> None:
        self.client.get("/api/items")

    @task(1)
    def health(self) -> None:
        self.client.get("/health")
