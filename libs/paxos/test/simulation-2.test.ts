import { simulationSuite } from './simulation.js';

simulationSuite(76, 150);
