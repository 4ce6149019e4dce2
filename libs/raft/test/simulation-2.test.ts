import { simulationSuite } from './simulation.js';

simulationSuite(101, 200);
