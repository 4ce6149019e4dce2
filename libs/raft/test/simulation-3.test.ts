import { simulationSuite } from './simulation.js';

simulationSuite(161, 240);
