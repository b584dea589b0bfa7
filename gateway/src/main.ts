/**
 * The gateway service, as its image runs it: the gateway alone, its Log consumed by the persister service. The
 * whole of Parley in one process (`npm start`) is `embedded/`.
 */
import { bootGateway } from "./service.js";

await bootGateway();
