import { simulationSuite } from './simulation.js';

simulationSuite(1, 80);
