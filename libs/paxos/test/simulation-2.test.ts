import { simulationSuite } from './simulation.js';

simulationSuite(61, 120);
