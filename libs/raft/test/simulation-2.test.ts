import { simulationSuite } from './simulation.js';

simulationSuite(81, 160);
