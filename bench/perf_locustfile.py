"""Benchmark load: one FastHttpUser hitting one cheap endpoint as fast as it can."""

from locust import FastHttpUser, constant, task


class Bench(FastHttpUser):
    wait_time = constant(0)

    @task
    def items(self) -> None:
        self.client.get("/api/items")
