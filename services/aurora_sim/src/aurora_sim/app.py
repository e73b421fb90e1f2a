from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from aurora_sim import aurora_api, control_api, control_projects
from aurora_sim.errors import AuroraError, JSONBytes, error_body
from aurora_sim.settings import Settings
from aurora_sim.simulator import Simulator
from aurora_sim.traffic import TrafficMiddleware


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    sim = Simulator(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sim.dispatcher.start()
        try:
            yield
        finally:
            await sim.dispatcher.stop()

    app = FastAPI(
        title="aurora_sim — Aurora Solar API emulator",
        version="2024.05",
        description="Emulates Aurora Solar's 2024.05 API and webhooks. `/_sim/*` (tag `simulator`) is not Aurora.",
        lifespan=lifespan,
    )
    app.state.sim = sim
    app.include_router(aurora_api.router)
    app.include_router(aurora_api.files_router)
    app.include_router(control_api.router)
    app.include_router(control_projects.router)

    @app.exception_handler(AuroraError)
    async def aurora_error(_: Request, exc: AuroraError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"message": f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg', 'invalid')}"}
            for e in exc.errors()
        ]
        return JSONBytes({"errors": errors or [{"message": "Invalid request"}]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        # Aurora answers unknown paths/verbs with 404/405 in its own error shape.
        message = "Not found" if exc.status_code == 404 else str(exc.detail)
        return JSONBytes(error_body(message), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> Response:
        # An emulator bug should still look like an Aurora 5xx to the client under test.
        return JSONBytes(error_body(f"Internal server error ({type(exc).__name__})"), status_code=500)

    app.add_middleware(TrafficMiddleware, sim=sim)
    return app
